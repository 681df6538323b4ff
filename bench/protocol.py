"""A student without a browser: one Streamlit session driven over Streamlit's own websocket protocol.

What the frontend does, and no more: open the websocket at /_stcore/stream with the subprotocols
["streamlit", <xsrf token>], send a BackMsg `rerun_script` (the page's query string and the widget states
that changed), and read ForwardMsgs until `script_finished` says the run ended. The widgets are found by
their ids in the `delta` messages: a keyed widget's id ends in "-<key>" (Streamlit derives it from the key
alone, the same on every server), and a select_slider's options are its labels. So the server is measured
alone, with nothing drawn: the time from sending the rerun to its script_finished is the turnaround.

What a student would see go wrong is counted per run: an exception element, the app's "could not be drawn"
alert, a notice that the app had to replace widget state ("held a value it cannot take") or that the server
does not offer the model the URL asks for, a run that ended with a compile error or not at all, and a
dropped websocket.

The `websockets` package comes with Streamlit (it is its server's websocket implementation).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

from components.i18n import LANG_NAMES, t

FULL_RUN_FINISHES = frozenset({ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR})
# Alerts that mean something went wrong for the student, in both languages.
_VIEW_FAILED = tuple(t(lang, "app.view_failed") for lang in LANG_NAMES)
# The start of the notice that the server does not offer the model a URL asks for.
_MODEL_UNKNOWN = tuple(t(lang, "app.model_unknown", name="\0").split("\0")[0] for lang in LANG_NAMES)
# The words between a reset notice's setting and its value ("” held a value it cannot take (").
_STATE_RESET = tuple(t(lang, "app.value_reset", name="\0", value="\0", used="\0").split("\0")[1] for lang in LANG_NAMES)
WATCHED = ("text", "view", "layer", "head", "query", "lang")  # keyed widgets a student changes or reads


class SessionClosed(Exception):
    """The websocket closed while a run was awaited."""


@dataclass
class Run:
    """One rerun as the server answered it."""

    kind: str  # "open", "type", "view", "head", "layer", ...
    started: float  # time.perf_counter() when the BackMsg was sent
    seconds: float | None = None  # to script_finished; None if it never came
    status: str = ""
    bytes: int = 0  # ForwardMsg bytes received for it
    problems: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)  # every alert's text (notices, warnings, errors)


@dataclass
class Widget:
    id: str
    options: tuple[str, ...] = ()  # a select_slider's labels, a button group's contents


class ProtocolSession:
    """One browser tab's worth of Streamlit session, without the tab."""

    def __init__(
        self,
        base_url: str,
        query: dict[str, str] | None = None,
        timeout_s: float = 90.0,
        previous_session: str | None = None,
    ) -> None:
        """previous_session: the id of a session this page had, sent as the frontend does when it reconnects."""
        self.url = base_url.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        self.subprotocols = ["streamlit", "PLACEHOLDER_AUTH_TOKEN", *([previous_session] if previous_session else [])]
        self.query_string = urlencode(query or {})
        self.timeout_s = timeout_s
        self.widgets: dict[str, Widget] = {}  # key → the widget as last sent by the server
        self.runs: list[Run] = []
        self.closed_unexpectedly = False
        self._ws = None
        self._reader: asyncio.Task | None = None
        self._current: Run | None = None
        self._finished = asyncio.Event()
        self._closing = False

    # --- connection ---
    async def open(self) -> Run:
        """Connect and run the page once, as a first visit does."""
        self._ws = await websockets.connect(
            f"{self.url}/_stcore/stream",
            subprotocols=self.subprotocols,
            max_size=None,
            open_timeout=self.timeout_s,
            compression=None,
        )
        self._reader = asyncio.create_task(self._read())
        return await self.rerun("open")

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader

    # --- runs ---
    async def rerun(self, kind: str, states: list[WidgetState] = ()) -> Run:
        """Send a rerun with these widget states and wait for its script_finished (or a problem)."""
        run = Run(kind, time.perf_counter())
        self.runs.append(run)
        if self.closed_unexpectedly:
            run.problems.append("ws_closed")
            return run
        msg = BackMsg()
        msg.rerun_script.query_string = self.query_string
        msg.rerun_script.widget_states.widgets.extend(states)
        self._current = run
        self._finished.clear()
        try:
            await self._ws.send(msg.SerializeToString())
            await asyncio.wait_for(self._finished.wait(), self.timeout_s)
        except TimeoutError:
            run.problems.append("timeout")
        except websockets.ConnectionClosed:
            run.problems.append("ws_closed")
        if self.closed_unexpectedly and run.seconds is None and "ws_closed" not in run.problems:
            run.problems.append("ws_closed")
        self._current = None
        return run

    def state(self, key: str, **value) -> WidgetState:
        """The WidgetState that sets the keyed widget `key`, e.g. state("text", string_value="...")."""
        widget = self.widgets.get(key)
        if widget is None:
            raise KeyError(f"the page has no widget keyed {key!r} (seen: {sorted(self.widgets)})")
        ws = WidgetState(id=widget.id)
        for name, v in value.items():
            if name.endswith("_array_value"):
                getattr(ws, name).data.extend(v)
            else:
                setattr(ws, name, v)
        return ws

    async def type_sentence(self, text: str, kind: str = "type") -> Run:
        return await self.rerun(kind, [self.state("text", string_value=text)])

    async def pick_view(self, view: str, lang: str = "en") -> Run:
        return await self.rerun("view", [self.state("view", string_array_value=[t(lang, f"app.view_{view}")])])

    async def pick(self, key: str, value: int) -> Run:
        """Set a select_slider (layer, head) to `value`, as its label."""
        return await self.rerun(key, [self.state(key, string_array_value=[str(value)])])

    def n_options(self, key: str) -> int:
        return len(self.widgets[key].options)

    # --- what the server sends ---
    async def _read(self) -> None:
        try:
            async for data in self._ws:
                if isinstance(data, bytes):
                    self._on_message(data)
        except websockets.ConnectionClosed:
            pass
        finally:
            if not self._closing:
                self.closed_unexpectedly = True
                self._finished.set()

    def _on_message(self, data: bytes) -> None:
        run = self._current
        if run is not None:
            run.bytes += len(data)
        msg = ForwardMsg()
        msg.ParseFromString(data)
        kind = msg.WhichOneof("type")
        if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            self._on_element(msg.delta.new_element, run)
        elif kind == "script_finished" and run is not None:
            run.status = ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)
            if msg.script_finished in FULL_RUN_FINISHES:
                run.seconds = time.perf_counter() - run.started
                if msg.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    run.problems.append("compile_error")
                self._finished.set()

    def _on_element(self, element, run: Run | None) -> None:
        kind = element.WhichOneof("type")
        if kind == "exception":
            if run is not None:
                run.problems.append("exception")
            return
        if kind == "alert":
            body = element.alert.body
            if run is not None:
                run.alerts.append(body)
            if run is not None and any(text in body for text in _VIEW_FAILED):
                run.problems.append("view_failed")
            elif run is not None and any(text in body for text in _STATE_RESET):
                run.problems.append("state_reset")
            elif run is not None and body.startswith(_MODEL_UNKNOWN):
                run.problems.append("model_unknown")
            return
        proto = getattr(element, kind)
        widget_id = getattr(proto, "id", "") if hasattr(proto, "id") else ""
        if not widget_id:
            return
        key = widget_id.rsplit("-", 1)[-1]
        if key in WATCHED:
            if kind == "slider":
                options = tuple(proto.options)
            elif kind == "button_group":
                options = tuple(o.content for o in proto.options)
            else:
                options = ()
            self.widgets[key] = Widget(widget_id, options)
