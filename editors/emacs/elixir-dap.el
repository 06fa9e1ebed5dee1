;;; elixir-dap.el --- elixir-dap for dap-mode  -*- lexical-binding: t; -*-

;; Debug Elixir projects from Emacs with dap-mode and elixir-dap: breakpoints,
;; stepping, variables, and code reload while the program runs (save a file
;; and its modules are recompiled and reloaded in the running VM).
;;
;; Usage: (load "/path/to/elixir-dap/editors/emacs/elixir-dap.el"), set
;; `elixir-dap-program' if `elixir-dap' is not on `exec-path', then
;; M-x dap-debug and pick "Elixir (elixir-dap): mix run", or
;; (dap-debug (list :type "elixir-dap" :request "launch" ...)) with any
;; ElixirLS launch attribute.  See docs/editors.md.

;;; Code:

(require 'dap-mode)

(defgroup elixir-dap nil
  "Debug Elixir projects with elixir-dap."
  :group 'dap-mode)

(defcustom elixir-dap-program "elixir-dap"
  "The elixir-dap executable (a name looked up on `exec-path', or a path)."
  :type 'string)

(defcustom elixir-dap-program-args nil
  "Extra arguments of the adapter, e.g. (\"--log-file\" \"/tmp/dap.log\")."
  :type '(repeat string))

(defvar elixir-dap-last-reload nil
  "The body of the last `codeReloaded' event, as a hash table.")

(defvar elixir-dap-reloaded-hook nil
  "Run with the `codeReloaded' body (a hash table) after every reload.")

(defun elixir-dap--populate (conf)
  "Complete the launch configuration CONF for elixir-dap."
  (-> conf
      (dap--put-if-absent :dap-server-path (cons elixir-dap-program elixir-dap-program-args))
      (dap--put-if-absent :request "launch")
      (dap--put-if-absent :projectDir (or (and (fboundp 'project-current)
                                               (project-current)
                                               (expand-file-name (project-root (project-current))))
                                          default-directory))))

(dap-register-debug-provider "elixir-dap" #'elixir-dap--populate)

(dap-register-debug-template "Elixir (elixir-dap): mix run"
                             (list :type "elixir-dap"
                                   :request "launch"
                                   :name "mix run"
                                   :task "run"
                                   :taskArgs ["--no-halt"]))

(dap-register-debug-template "Elixir (elixir-dap): mix test"
                             (list :type "elixir-dap"
                                   :request "launch"
                                   :name "mix test"
                                   :task "test"
                                   :taskArgs ["--trace"]))

(defun elixir-dap--summary (report)
  "A one-line summary of the reload REPORT (a hash table)."
  (if (eq (gethash "success" report) t)
      (let ((reloaded (length (gethash "reloaded" report)))
            (ms (round (or (gethash "total" (gethash "timings" report)) 0))))
        (if (zerop reloaded)
            "nothing to reload"
          (format "reloaded %d module%s in %d ms" reloaded (if (= reloaded 1) "" "s") ms)))
    (format "reload failed: %s" (gethash "message" report))))

;; Our extension events (docs/protocol.md): dap-mode passes events it does
;; not know to `dap-handle-event'.
(cl-defmethod dap-handle-event ((_event (eql codeReloaded)) _session body)
  (setq elixir-dap-last-reload body)
  (message "elixir-dap: %s" (elixir-dap--summary body))
  (run-hook-with-args 'elixir-dap-reloaded-hook body))

(cl-defmethod dap-handle-event ((_event (eql reloadPending)) _session body)
  (message "elixir-dap: %d file(s) to reload: M-x elixir-dap-reload-code"
           (+ (length (gethash "changed" body)) (length (gethash "removed" body)))))

;; Standard events dap-mode 0.7 has no handler for: quiet.
(cl-defmethod dap-handle-event ((_event (eql module)) _session _body) nil)
(cl-defmethod dap-handle-event ((_event (eql process)) _session _body) nil)

;; Progress events: shown in the echo area rather than as unknown events.
(cl-defmethod dap-handle-event ((_event (eql progressStart)) _session body)
  (message "%s: %s" (gethash "title" body) (or (gethash "message" body) "")))
(cl-defmethod dap-handle-event ((_event (eql progressUpdate)) _session _body) nil)
(cl-defmethod dap-handle-event ((_event (eql progressEnd)) _session _body) nil)

(defun elixir-dap-reload-code ()
  "Reload the code changed since the last reload into the running program."
  (interactive)
  (dap--send-message (dap--make-request "reloadCode" (make-hash-table))
                     (lambda (_response) nil)
                     (dap--cur-session-or-die)))

(provide 'elixir-dap)
;;; elixir-dap.el ends here
