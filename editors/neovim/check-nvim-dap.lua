-- nvim-dap with the configuration of docs/editors.md, headless: launch,
-- breakpoint stop, stack, :w reload (codeReloaded), reloadCode with {} (sent
-- as [] from Lua), no "didn't respond" warning, dap.terminate() ending the
-- session and the adapter. A check by hand (nvim-dap is not in Debian):
--   NVIM_DAP=/path/to/nvim-dap ELIXIR_DAP=/path/to/elixir-dap SHOP=/tmp/copy-of-examples-shop \
--     nvim --headless -u NONE -l editors/neovim/check-nvim-dap.lua
-- Neovim 0.10+ (Debian trixie's 0.10.4 was used).
local adapter = os.getenv('ELIXIR_DAP') or 'elixir-dap'
local shop = os.getenv('SHOP') or error('SHOP: a copy of examples/shop')
vim.opt.runtimepath:append(os.getenv('NVIM_DAP') or error('NVIM_DAP: the nvim-dap plugin directory'))
local notes = {}
vim.notify = function(msg, level) table.insert(notes, msg); io.stderr:write('NOTIFY ' .. tostring(msg) .. '\n') end
local dap = require('dap')
dap.set_log_level('DEBUG')

-- ---- docs/editors.md ----
dap.adapters['elixir-dap'] = { type = 'executable', command = adapter }
dap.configurations.elixir = {
  { type = 'elixir-dap', request = 'launch', name = 'mix run', projectDir = '${workspaceFolder}',
    task = 'run', taskArgs = { '--no-halt' }, env = {} },
}
local reloads = {}
dap.listeners.after['event_codeReloaded']['elixir-dap'] = function(_, body)
  table.insert(reloads, body)
  local n = #(body.reloaded or {})
  vim.notify(body.success and ('reloaded ' .. n .. ' module(s) in ' .. math.floor(body.timings.total) .. ' ms')
    or ('reload failed: ' .. (body.message or '')))
end
-- ----

local stopped, terminated, thread = 0, false, nil
dap.listeners.after.event_stopped['check'] = function(_, body) stopped = stopped + 1; thread = body.threadId end
dap.listeners.after.event_terminated['check'] = function() terminated = true end
local function wait(what, pred, ms)
  if not vim.wait(ms or 60000, pred, 50) then
    io.stderr:write('FAIL: ' .. what .. '\n'); os.exit(1)
  end
end

vim.cmd('filetype on')
vim.cmd('cd ' .. shop)
vim.cmd('edit lib/shop/pricing.ex')
vim.api.nvim_win_set_cursor(0, { 10, 0 })
dap.toggle_breakpoint()
local t0 = vim.uv.hrtime()
dap.continue()  -- the only configuration: runs it
wait('the stop', function() return stopped > 0 end)
io.stderr:write(string.format('OK stopped %.1f s after dap.continue()\n', (vim.uv.hrtime() - t0) / 1e9))
local session = dap.session()
local frames
session:request('stackTrace', { threadId = thread }, function(err, resp) frames = resp and resp.stackFrames or { err } end)
wait('the stack', function() return frames ~= nil end)
io.stderr:write('OK top frame ' .. frames[1].name .. ' line ' .. frames[1].line .. ' column ' .. frames[1].column .. '\n')
assert(frames[1].name == 'Shop.Pricing.total/1' and frames[1].line == 10 and frames[1].column == 1)
-- Reload on :w
vim.cmd([[%s/apple: 30/apple: 35/]])
vim.cmd('write')
wait('codeReloaded after :w', function() return #reloads > 0 end)
assert(reloads[1].success and reloads[1].trigger == 'save', vim.inspect(reloads[1]))
io.stderr:write('OK reload on save: ' .. #reloads[1].reloaded .. ' module\n')
-- reloadCode with {} (an empty Lua table: sent as [])
local resp
session:request('reloadCode', {}, function(err, r) resp = { err = err, r = r } end)
wait('the reloadCode response', function() return resp ~= nil end)
assert(resp.err == nil, vim.inspect(resp.err))
io.stderr:write('OK reloadCode {} answered: success ' .. tostring(resp.r.success) .. '\n')
-- Stop as a user does: dap.terminate() (terminate, then disconnect)
dap.terminate()
wait('the end of the session', function() return dap.session() == nil end, 10000)
wait('the adapter exits', function() return vim.fn.system({ 'pgrep', '-f', '^' .. adapter }) == '' end, 10000)
io.stderr:write('OK session ended, adapter gone (terminated event seen: ' .. tostring(terminated) .. ')\n')
vim.wait(1000)
for _, n in ipairs(notes) do
  if tostring(n):find("didn't respond") then io.stderr:write('FAIL: ' .. n .. '\n'); os.exit(1) end
end
io.stderr:write('OK no "didn\'t respond" warning; notifications: ' .. vim.inspect(notes) .. '\n')
os.exit(0)
