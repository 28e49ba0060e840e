; Definitions: structs, interfaces (their method specs become methods), and other named
; types and aliases.
(type_spec name: (type_identifier) @name type: (struct_type)) @definition.struct
(type_spec name: (type_identifier) @name type: (interface_type)) @definition.interface
(type_spec
  name: (type_identifier) @name
  type: [(type_identifier) (qualified_type) (generic_type) (pointer_type) (array_type)
         (implicit_length_array_type) (slice_type) (map_type) (channel_type)
         (function_type) (parenthesized_type)]) @definition.type
(type_alias name: (type_identifier) @name) @definition.type
(method_spec name: (field_identifier) @name) @definition.function

; Functions, and methods (declared outside their type, so named without it).
(function_declaration name: (identifier) @name) @definition.function
(method_declaration name: (field_identifier) @name) @definition.method

; References: calls by plain name or selector (`pkg.F()`, `x.M()`).
(call_expression function: (identifier) @name) @reference.call
(call_expression function: (selector_expression field: (field_identifier) @name)) @reference.call

; Types in composite literals (`Greeter{...}`) and method receivers.
(composite_literal type: (type_identifier) @name) @reference.type
(method_declaration
  receiver: (parameter_list
    (parameter_declaration type: [(type_identifier) @name
                                  (pointer_type (type_identifier) @name)]))) @reference.type
