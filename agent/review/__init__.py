"""`codeagent review`: a diff and what it touches, judged by the agent, as findings."""
