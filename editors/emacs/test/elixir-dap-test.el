;;; elixir-dap-test.el --- dap-mode + elixir-dap, headless  -*- lexical-binding: t; -*-

;; Run by scripts/test-emacs.sh: emacs --batch with Debian's elpa-dap-mode,
;; the adapter from $ELIXIR_DAP_PROGRAM, a copy of examples/shop in
;; $ELIXIR_DAP_SHOP.  As a user would: a breakpoint in pricing.ex, dap-debug,
;; the stop and its stack, an edit saved (reloadOnSave: auto) and the
;; `codeReloaded' event, the new code running, disconnect.

;;; Code:

(require 'package)
(package-initialize)
(require 'ert)
(require 'dap-mode)
(load (expand-file-name "../elixir-dap.el" (file-name-directory (or load-file-name buffer-file-name))))

(setq elixir-dap-program (getenv "ELIXIR_DAP_PROGRAM"))
(when (getenv "ELIXIR_DAP_LOG")
  (setq elixir-dap-program-args (list "--log-file" (getenv "ELIXIR_DAP_LOG") "--log-level" "debug")))
;; No UI in batch mode; keep breakpoints out of the user's files.
(setq dap-breakpoints-file (make-temp-file "dap-breakpoints")
      dap-auto-show-output nil
      dap-print-io nil)

(defconst elixir-dap-test-timeout 120 "Seconds any one wait may take.")

(defun elixir-dap-test--wait (what predicate &optional timeout)
  "Process events until PREDICATE holds; fail naming WHAT after TIMEOUT s."
  (let ((deadline (+ (float-time) (or timeout elixir-dap-test-timeout))))
    (while (and (not (funcall predicate)) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (unless (funcall predicate)
      (ert-fail (format "%s did not happen within %s s" what (or timeout elixir-dap-test-timeout))))))

(defun elixir-dap-test--request (session command arguments)
  "Send COMMAND with ARGUMENTS in SESSION; return its response."
  (let (response)
    (dap--send-message (dap--make-request command arguments)
                       (lambda (r) (setq response r))
                       session)
    (elixir-dap-test--wait (format "the response to %s" command) (lambda () response))
    response))

(ert-deftest elixir-dap-launch-stop-stack-reload-disconnect ()
  (let* ((shop (file-name-as-directory (getenv "ELIXIR_DAP_SHOP")))
         (pricing (expand-file-name "lib/shop/pricing.ex" shop))
         (stops 0)
         (terminated nil)
         (reloads nil)
         session)
    (add-hook 'dap-stopped-hook (lambda (_session) (setq stops (1+ stops))))
    (add-hook 'dap-terminated-hook (lambda (_session) (setq terminated t)))
    (add-hook 'elixir-dap-reloaded-hook (lambda (body) (push body reloads)))
    ;; A breakpoint on `subtotal - discount(subtotal)`.
    (with-current-buffer (find-file-noselect pricing)
      (goto-char (point-min))
      (forward-line 9)
      (should (looking-at-p " *subtotal - discount(subtotal)"))
      (dap-breakpoint-add))
    (let ((started (float-time)))
      (dap-debug (list :type "elixir-dap" :request "launch" :name "shop"
                       :projectDir shop :task "run" :taskArgs ["--no-halt"]
                       :env (make-hash-table)))
      (setq session (dap--cur-session))
      (should session)
      ;; Launch, then the stop at the breakpoint.
      (elixir-dap-test--wait "the stop at the breakpoint" (lambda () (> stops 0)))
      (message "elixir-dap-test: stopped %.1f s after dap-debug" (- (float-time) started)))
    ;; The stack: the innermost frame is Shop.Pricing.total/1 at line 10.
    (let* ((thread (dap--debug-session-thread-id session))
           (response (elixir-dap-test--request session "stackTrace" (list :threadId thread)))
           (frames (gethash "stackFrames" (gethash "body" response)))
           (top (elt frames 0)))
      (should (equal (gethash "name" top) "Shop.Pricing.total/1"))
      (should (equal (gethash "line" top) 10))
      (should (equal (gethash "column" top) 1))
      (message "elixir-dap-test: stack %s"
               (mapconcat (lambda (f) (format "%s:%s" (gethash "name" f) (gethash "line" f))) frames ", ")))
    ;; Reload on save: apples cost 35 from now on.
    (with-current-buffer (find-file-noselect pricing)
      (goto-char (point-min))
      (should (search-forward "apple: 30" nil t))
      (replace-match "apple: 35")
      (save-buffer))
    (elixir-dap-test--wait "the codeReloaded event" (lambda () reloads))
    (let ((report (car reloads)))
      (should (eq (gethash "success" report) t))
      (should (equal (gethash "trigger" report) "save"))
      (should (equal (mapcar (lambda (m) (gethash "module" m)) (gethash "reloaded" report))
                     '("Shop.Pricing")))
      (message "elixir-dap-test: %s" (elixir-dap--summary report)))
    ;; The new code runs: evaluate in the stopped frame's session.
    (let* ((response (elixir-dap-test--request session "evaluate"
                                               (list :expression "Shop.Pricing.price(:apple)" :context "repl")))
           (result (gethash "result" (gethash "body" response))))
      (should (equal result "35")))
    ;; Disconnect as `dap-disconnect' does: answered before dap-mode ends
    ;; the session (it deletes the adapter's process on `exited'), then the
    ;; session ends and the adapter is gone.
    (let* ((process (dap--debug-session-proc session))
           (response (elixir-dap-test--request session "disconnect" (list :restart :json-false))))
      (should (eq (gethash "success" response) t))
      (elixir-dap-test--wait "the end of the session" (lambda () terminated) 10)
      (elixir-dap-test--wait "the adapter's exit" (lambda () (not (process-live-p process))) 10))))

;;; elixir-dap-test.el ends here
