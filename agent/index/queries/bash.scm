; Definitions: functions, `f() {...}` and `function f {...}` (Bash has no containers).
(function_definition name: (word) @name) @definition.function

; References: commands run by name (functions, builtins and programs alike).
(command name: (command_name (word) @name)) @reference.call
