; Definitions: functions, by how many pointers wrap their declarator (`f()`, `*f()`,
; `**f()`), and functions returning function pointers (`(*f(int))(int)`).
(function_definition
  declarator: (function_declarator declarator: (identifier) @name)) @definition.function
(function_definition
  declarator: (pointer_declarator
    declarator: (function_declarator declarator: (identifier) @name))) @definition.function
(function_definition
  declarator: (pointer_declarator
    declarator: (pointer_declarator
      declarator: (function_declarator declarator: (identifier) @name)))) @definition.function
(function_definition
  declarator: (function_declarator
    declarator: (parenthesized_declarator
      (pointer_declarator
        declarator: (function_declarator declarator: (identifier) @name))))) @definition.function

; Function-like macros.
(preproc_function_def name: (identifier) @name) @definition.macro

; Structs, unions and enums with a body (not mere mentions like `struct foo *p`).
(struct_specifier name: (type_identifier) @name body: (field_declaration_list)) @definition.struct
(union_specifier name: (type_identifier) @name body: (field_declaration_list)) @definition.struct
(enum_specifier name: (type_identifier) @name body: (enumerator_list)) @definition.enum

; Typedefs of anonymous structs, unions and enums take the typedef's name.
(type_definition
  type: (struct_specifier !name body: (field_declaration_list))
  declarator: (type_identifier) @name) @definition.struct
(type_definition
  type: (union_specifier !name body: (field_declaration_list))
  declarator: (type_identifier) @name) @definition.struct
(type_definition
  type: (enum_specifier !name body: (enumerator_list))
  declarator: (type_identifier) @name) @definition.enum

; Other typedefs: the alias is the name itself (a named struct in it is defined above),
; and function-pointer typedefs.
(type_definition
  type: [(primitive_type) (sized_type_specifier) (type_identifier) (macro_type_specifier)
         (struct_specifier name: (_)) (union_specifier name: (_)) (enum_specifier name: (_))]
  declarator: [(type_identifier) @name @definition.type
               (pointer_declarator declarator: (type_identifier) @name @definition.type)])
(type_definition
  declarator: (function_declarator
    declarator: (parenthesized_declarator
      (pointer_declarator declarator: (type_identifier) @name)))) @definition.type

; References: calls by plain name or through a member (`s.f()`, `p->f()`).
(call_expression function: (identifier) @name) @reference.call
(call_expression function: (field_expression field: (field_identifier) @name)) @reference.call
