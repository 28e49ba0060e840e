; Definitions: `function f()`, `local function f()`, `function M.f()` / `function a.b.f()`
; (named by the last field), and `function M:f()` (a method: it takes `self`).
(function_definition_statement name: (identifier) @name) @definition.function
(local_function_definition_statement name: (identifier) @name) @definition.function
(function_definition_statement name: (variable field: (identifier) @name)) @definition.function
(function_definition_statement name: (variable method: (identifier) @name)) @definition.method

; Function values bound to a name: `local f = function() end`, `M.f = function() end`,
; and table fields `{ f = function() end }`.
(local_variable_declaration
  (variable_list . (variable name: (identifier) @name))
  (expression_list . value: (function_definition))) @definition.function
(variable_assignment
  (variable_list . (variable [name: (identifier) field: (identifier)] @name))
  (expression_list . value: (function_definition))) @definition.function
(field key: (identifier) @name value: (function_definition)) @definition.function

; References: calls by plain name, field (`M.f()`, `a.b.f()`) or method (`obj:f()`).
(call function: (variable name: (identifier) @name)) @reference.call
(call function: (variable field: (identifier) @name)) @reference.call
(call function: (variable method: (identifier) @name)) @reference.call
