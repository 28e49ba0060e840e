; inherits: typescript

; JSX components used as elements: `<Badge />` (capitalized names; lower case are HTML tags).
((jsx_self_closing_element name: (identifier) @name) @reference.call
  (#match? @name "^[A-Z]"))
((jsx_opening_element name: (identifier) @name) @reference.call
  (#match? @name "^[A-Z]"))
