"""The ReAct agent: LlamaIndex's workflow ReActAgent, with codeagent's rules and limits
(`limits.py`). How a prompt is written and a reply read is the text protocol in
`react_text.py`; this is the loop.

- a malformed reply is shown to the model with the exact problem, and retried;
- a call to a tool that does not exist, or one already made, is refused the same way;
  both stay in the reasoning, in order (`limits.py` says why);
- at a limit the agent stops and answers with what it found (one last tool-free LLM call,
  in the time `Limits.answer_reserve` keeps for it, its places picked from those shown:
  `locate.final_choice`; `best_effort_answer` when that call fails or outlasts the
  time), and says it is incomplete (a `Stopped` event).
"""

from __future__ import annotations

from typing import Any, List, Sequence

from llama_index.core.agent.react.output_parser import ReActOutputParser
from llama_index.core.agent.react.types import (ActionReasoningStep, BaseReasoningStep,
                                                ObservationReasoningStep, ResponseReasoningStep)
from llama_index.core.agent.workflow import ReActAgent
from llama_index.core.agent.workflow.workflow_events import AgentOutput
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.bridge.pydantic import Field

from codeagent.assistant.evidence import Evidence
from codeagent.assistant.limits import (STATE, Limits, Stopped, best_effort_answer, count_reply,
                                        gave_up, last_turn_seconds, limit_reached,
                                        new_state, one_reply, refusal, retry_marker,
                                        without_retry)
from codeagent.assistant.llm import reply_within
from codeagent.assistant.locate import final_choice
from codeagent.assistant.react_text import (CodeFormatter, Refused, Remembered,
                                            StrictReActParser, Told, final_reply, remembered,
                                            sole_arguments)
from codeagent.prompts import load_prompt, load_template

FINAL_FORM = "Reply in the form:\n\nThought: <what you found>\nAnswer: <your best answer>"


class CodeReActAgent(ReActAgent):
    """ReActAgent whose steps keep codeagent's rules; see the module docstring."""

    limits: Limits = Field(default_factory=Limits)
    made_calls: list[str] = Field(default_factory=list)
    """Calls made for the question before the loop (the first search): not made again."""
    output_parser: ReActOutputParser = Field(default_factory=StrictReActParser)

    async def take_step(self, ctx: Any, llm_input: List[ChatMessage], tools: Sequence[Any],
                        memory: Any) -> AgentOutput:
        llm_input = without_retry(llm_input)
        state = await ctx.store.get(STATE, default=None) or new_state(self.made_calls)
        stop = limit_reached(state, self.limits)
        if stop:
            return await self._stop(ctx, *stop, llm_input, tools, state)
        with one_reply(self.llm, state):
            output = await super().take_step(ctx, llm_input, tools, memory)
        call, problem = None, None
        if output.retry_messages:  # the base class could not read the reply
            problem = output.retry_messages[-1].content or ""
        elif output.tool_calls:
            call = (output.tool_calls[0].tool_name, output.tool_calls[0].tool_kwargs)
            problem = refusal(*call, [t.metadata.get_name() for t in tools], state["calls"],
                              "Reply again in the format, with one of them.")
            if problem:
                await self._forget_last_step(ctx)
        if problem is not None:
            await self._tell(ctx, output.response.content or "", problem)
            output = AgentOutput(response=output.response, raw=output.raw,
                                 current_agent_name=self.name,
                                 retry_messages=retry_marker(problem))
        count_reply(state, call, problem is not None)
        await ctx.store.set(STATE, state)
        if (why := gave_up(state, self.limits)) is not None:
            # A model that keeps repeating a refused call can still answer without tools.
            return await self._stop(ctx, "parse", why, llm_input, tools, state)
        return output

    async def finalize(self, ctx: Any, output: AgentOutput, memory: Any) -> AgentOutput:
        """The base class files the whole reasoning into the conversation memory; file it
        compact instead: actions as JSON, each observation cut to its first lines. A
        follow-up question needs to know what was looked at, not to read it all again."""
        reasoning = await ctx.store.get(self.reasoning_key, default=[])
        if reasoning and isinstance(reasoning[-1], ResponseReasoningStep):
            await ctx.store.set(self.reasoning_key,
                                [Remembered(text=remembered(step)) for step in reasoning[:-1]
                                 if not isinstance(step, (Refused, Told))] + reasoning[-1:])
        return await super().finalize(ctx, output, memory)

    async def _tell(self, ctx: Any, reply: str, problem: str) -> None:
        """The reply that was not taken stays in the reasoning, followed by its problem."""
        reasoning = await ctx.store.get(self.reasoning_key, default=[])
        reasoning += [Refused(text=reply), Told(text=problem)]
        await ctx.store.set(self.reasoning_key, reasoning)

    async def _forget_last_step(self, ctx: Any) -> None:
        reasoning = await ctx.store.get(self.reasoning_key, default=[])
        if reasoning and isinstance(reasoning[-1], ActionReasoningStep):
            reasoning.pop()
            await ctx.store.set(self.reasoning_key, reasoning)

    async def _stop(self, ctx: Any, reason: str, detail: str, llm_input: List[ChatMessage],
                    tools: Sequence[Any], state: dict[str, Any]) -> AgentOutput:
        """Answer with what was found: one tool-free LLM call, else (if that fails, or
        gets no answer in the time left) a summary of the tool results."""
        ctx.write_event_to_stream(Stopped(reason=reason, detail=detail))
        reasoning = await ctx.store.get(self.reasoning_key, default=[])
        answer = await self._final_answer(llm_input, tools, reasoning, detail,
                                          last_turn_seconds(state, self.limits))
        answer = answer or best_effort_answer(detail, _calls(reasoning))
        reasoning.append(ResponseReasoningStep(thought=f"Stopped: {detail}.", response=answer))
        await ctx.store.set(self.reasoning_key, reasoning)
        return AgentOutput(response=ChatMessage(role="assistant", content=f"Answer: {answer}"),
                           current_agent_name=self.name)

    async def _final_answer(self, llm_input: List[ChatMessage], tools: Sequence[Any],
                            reasoning: list, why: str, seconds: float) -> str | None:
        history = llm_input[1:] if llm_input and llm_input[0].role == "system" else llm_input
        messages = self.formatter.format(tools, chat_history=history, current_reasoning=reasoning)
        shown = Evidence.of([step.observation for step in reasoning
                             if isinstance(step, ObservationReasoningStep)]).shown
        if self.limits.final_choice and shown:
            try:
                return await final_choice(self.llm, messages, why, shown, seconds)
            except Exception:  # the best effort must not fail: the summary takes over
                return None
        messages.append(ChatMessage(role="user", content=load_prompt(
            "final_answer", why=why, form=FINAL_FORM)))
        try:
            text, _ = await reply_within(self.llm, messages, seconds)
        except Exception:  # the best effort must not fail: the summary takes over
            return None
        return final_reply(self.output_parser, text)


def _calls(reasoning: list[BaseReasoningStep]) -> list[tuple[str, dict[str, Any], str]]:
    calls = []
    for step, following in zip(reasoning, reasoning[1:]):
        if isinstance(step, ActionReasoningStep) and isinstance(following,
                                                                ObservationReasoningStep):
            calls.append((step.action, step.action_input, following.observation))
    return calls


def build_react_agent(tools: list[Any], llm: Any, limits: Limits, header: str,
                      made_calls: list[str]) -> CodeReActAgent:
    formatter = CodeFormatter(system_header=load_template(header, {"tool_desc", "tool_names"}),
                              budget_chars=limits.prompt_chars)
    return CodeReActAgent(tools=tools, llm=llm, formatter=formatter, limits=limits,
                          output_parser=StrictReActParser(sole_arguments(tools)),
                          made_calls=made_calls, streaming=True, timeout=None)
