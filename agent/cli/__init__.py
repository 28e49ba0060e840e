"""Everything a person sees: the `codeagent` command (`main`), one module per command
family, the REPL and the console output."""
