; Definitions: classes and functions (functions inside classes become methods).
(class_definition name: (identifier) @name) @definition.class
(function_definition name: (identifier) @name) @definition.function

; References: calls by plain name or attribute, and base classes (`base`: the entity graph's
; inheritance).
(call function: (identifier) @name) @reference.call
(call function: (attribute attribute: (identifier) @name)) @reference.call
(class_definition superclasses: (argument_list (identifier) @name)) @reference.base
(class_definition
  superclasses: (argument_list (attribute attribute: (identifier) @name))) @reference.base

; Imports, as dotted names the graph resolves to files and definitions: `import a.b` is
; `a.b`; `from a.b import c, d as e` is `a.b.c` and `a.b.d` (@module is prefixed); `from
; . import x` is `.x`; `from a import *` is `a`.
(import_statement name: (dotted_name) @name) @reference.import
(import_statement name: (aliased_import name: (dotted_name) @name)) @reference.import
(import_from_statement module_name: (_) @module name: (dotted_name) @name) @reference.import
(import_from_statement module_name: (_) @module
  name: (aliased_import name: (dotted_name) @name)) @reference.import
(import_from_statement module_name: (_) @name (wildcard_import)) @reference.import
