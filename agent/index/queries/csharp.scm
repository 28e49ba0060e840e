; Definitions: classes, records, structs, interfaces and enums; namespaces (block or
; file-scoped; a scope, not a container: nothing in them becomes a method by it).
(class_declaration name: (identifier) @name) @definition.class
(record_declaration name: (identifier) @name) @definition.class
(record_struct_declaration name: (identifier) @name) @definition.struct
(struct_declaration name: (identifier) @name) @definition.struct
(interface_declaration name: (identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.enum
(namespace_declaration name: [(identifier) (qualified_name)] @name) @definition.namespace
(file_scoped_namespace_declaration name: [(identifier) (qualified_name)] @name) @definition.namespace
(delegate_declaration name: (identifier) @name) @definition.type

; Methods, constructors, destructors and local functions (inside types they become methods).
(method_declaration name: (identifier) @name) @definition.function
(constructor_declaration name: (identifier) @name) @definition.function
(destructor_declaration name: (identifier) @name) @definition.function
(local_function_statement name: (identifier) @name) @definition.function

; References: calls by plain name or member access, generic or not (`F()`, `x.F<T>()`).
(invocation_expression function: (identifier) @name) @reference.call
(invocation_expression function: (generic_name name: (identifier) @name)) @reference.call
(invocation_expression
  function: (member_access_expression name: (identifier) @name)) @reference.call
(invocation_expression
  function: (member_access_expression name: (generic_name name: (identifier) @name))) @reference.call

; Types: `new Foo()`, `new List<T>()`, `new A.Foo()`, and base types.
(object_creation_expression type: (identifier) @name) @reference.class
(object_creation_expression type: (generic_name name: (identifier) @name)) @reference.class
(object_creation_expression type: (qualified_name name: (identifier) @name)) @reference.class
(base_list (identifier) @name) @reference.class
(base_list (generic_name name: (identifier) @name)) @reference.class
(base_list (qualified_name name: (identifier) @name)) @reference.class
