"""Lambda on one machine: each function of the templates in its own process, as Lambda runs it.

The process sees what the deployed function sees and nothing else: `functions/` (the asset root) as its task root
and only entry on the path beside the installed packages, the environment variables of its template, Lambda's own
variables, and the temporary credentials of *its own role* (so moto, with IAM enforced, allows exactly what the
template allows). Events go in and answers come back as JSON lines on a private pipe; what the function prints
(its logs, its metrics) goes to a log file.

`python -m tools.lambda_local HANDLER` is the process itself; `LocalLambda` drives it.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import IO, Any

FUNCTIONS = Path(__file__).resolve().parent.parent / "functions"
_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


class FunctionError(Exception):
    """The function raised (Lambda's `FunctionError: Unhandled`), or its process died."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


class LocalLambda:
    """One execution environment of a function; invocations are one at a time, as in Lambda."""

    def __init__(
        self,
        name: str,
        handler: str,
        environment: dict[str, str],
        *,
        timeout: float,
        memory: int = 512,
        region: str = "us-east-1",
        arn: str | None = None,
        log: Path | None = None,
    ) -> None:
        self.name = name
        self.arn = arn or f"arn:aws:lambda:{region}:000000000000:function:{name}"
        self.handler = handler
        self.timeout = timeout
        self.log_path = log
        env = {k: v for k, v in os.environ.items() if k in _KEEP}
        env.update(environment)
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
                "AWS_REGION": region,
                "AWS_DEFAULT_REGION": region,
                "LAMBDA_TASK_ROOT": str(FUNCTIONS),
                "PYTHONPATH": str(FUNCTIONS),
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.environment = env
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None
        self.invocations = 0

    def start(self) -> LocalLambda:
        self._log = open(self.log_path, "a", encoding="utf-8") if self.log_path else None  # noqa: SIM115
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tools.lambda_local", self.handler],
            cwd=str(FUNCTIONS.parent),
            env=self.environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log if self._log else subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
        )
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.stdin:
                process.stdin.close()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout:
                process.stdout.close()
        if self._log:
            self._log.close()
            self._log = None

    def invoke(self, event: Any) -> Any:
        """The handler's answer; `FunctionError` when it raised, timed out or its process died (then restarted)."""
        with self._lock:
            self.invocations += 1
            if self._process is None or self._process.poll() is not None:
                self.stop()
                self.start()
            process = self._process
            assert process is not None
            assert process.stdin is not None
            assert process.stdout is not None
            deadline = time.time() + self.timeout
            try:
                process.stdin.write(json.dumps({"event": event, "deadline": deadline, "arn": self.arn}) + "\n")
                process.stdin.flush()
            except (BrokenPipeError, OSError) as exc:
                self.stop()
                raise FunctionError("Runtime.ExitError", f"the function's process is gone: {exc}") from exc
            answer: list[str] = []
            reader = threading.Thread(target=lambda: answer.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
            reader.start()
            reader.join(self.timeout + 1.0)
            if reader.is_alive():
                self.stop()  # Lambda ends an environment that timed out
                raise FunctionError("Sandbox.Timedout", f"Task timed out after {self.timeout:.2f} seconds")
            if not answer or not answer[0]:
                self.stop()
                raise FunctionError("Runtime.ExitError", "the function's process exited")
        reply = json.loads(answer[0])
        if reply.get("ok"):
            return reply.get("result")
        raise FunctionError(str(reply.get("errorType")), str(reply.get("errorMessage")))

    def __enter__(self) -> LocalLambda:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Context:
    def __init__(self, deadline: float, arn: str) -> None:
        self.deadline = deadline
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"))
        self.invoked_function_arn = arn
        self.aws_request_id = os.urandom(16).hex()
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self.deadline - time.time()) * 1000), 0)


def _serve(handler: str) -> int:
    """The function's process: answers on a private copy of stdout; stdout itself (logs) goes to stderr."""
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    root = str(FUNCTIONS)
    sys.path[:] = [root] + [p for p in sys.path if p and Path(p).resolve() != FUNCTIONS.parent and p != root]
    # Tests only: a folder holding a stub handler (never set by a template of infra/).
    if os.environ.get("LOCAL_LAMBDA_STUB_PATH"):
        sys.path.append(os.environ["LOCAL_LAMBDA_STUB_PATH"])
    module_name, attribute = handler.rsplit(".", 1)
    function = getattr(importlib.import_module(module_name), attribute)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            result = function(request["event"], _Context(float(request["deadline"]), str(request["arn"])))
            reply: dict[str, Any] = {"ok": True, "result": result}
        except Exception as exc:  # noqa: BLE001 - Lambda reports any exception as the invocation's error
            traceback.print_exc()
            reply = {"ok": False, "errorType": type(exc).__name__, "errorMessage": str(exc)[:4096]}
        answers.write(json.dumps(reply, default=str) + "\n")
        answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_serve(sys.argv[1]))
