"""The served backend (`--backend openai`): generation on an OpenAI-compatible completions endpoint.

The prompts are still built and truncated here, with the model's own tokenizer, exactly as for an offline run.
A vLLM server (`longeval serve` starts one) is sent the token ids themselves and returns token ids, which are
decoded here as offline: the tokens in and out are the offline ones. Any other server gets the prompt as text
(it re-tokenizes it, so the tokens may differ) and a warning says so.

The method lives in the server. `longeval serve` names the served model with a tag carrying the method spec, the
dtype, the checkpoint's config hash and its weights digest; this backend reads it from /v1/models, with vLLM's
max_model_len, and refuses a server whose method, checkpoint, dtype or length does not fit the run. The served
model's name is recorded in run.json, so a run resumed against a server restarted with other weights is refused.

Transient failures (429, 5xx, timeouts, refused or dropped connections) are retried with bounded exponential
backoff; a request that still fails ends the run with one line, and the predictions already written are kept.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longeval.backends.base import Generation, GenerationParams, canonical_dtype
from longeval.errors import UserError

# HTTP statuses worth retrying: rate limits and server-side trouble. Anything else 4xx is our request's fault.
RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 8.0
# A long LongBench prompt on a busy server can take minutes; a request past this is retried.
REQUEST_TIMEOUT_S = 600.0

_TAG = re.compile(r" \[longeval method=(?P<method>\S+) dtype=(?P<dtype>\S+) config=(?P<config>[0-9a-f]+)"
                  r"(?: weights=(?P<weights>[0-9a-f]*))?\]$")
CONFIG_HASH_CHARS = 12


@dataclass(frozen=True)
class ServedIdentity:
    """What `longeval serve` puts in the served model's name: enough for a client to refuse a mismatch."""

    method: str  # canonical method spec
    dtype: str
    config_sha256: str  # first CONFIG_HASH_CHARS hex digits of the checkpoint's config.json sha256
    # first CONFIG_HASH_CHARS hex digits of runs.identity.weights_fingerprint (None: a server from an older longeval)
    weights_sha256: str | None = None


def served_model_name(model_name: str, identity: ServedIdentity) -> str:
    """The --served-model-name of a `longeval serve` server."""
    weights = f" weights={identity.weights_sha256[:CONFIG_HASH_CHARS]}" if identity.weights_sha256 is not None else ""
    return (f"{model_name} [longeval method={identity.method} dtype={identity.dtype} "
            f"config={identity.config_sha256[:CONFIG_HASH_CHARS]}{weights}]")


def parse_served_name(name: str) -> ServedIdentity | None:
    """The identity in a served model's name; None for a server not started by `longeval serve`."""
    match = _TAG.search(name)
    if match is None:
        return None
    return ServedIdentity(match["method"], match["dtype"], match["config"], match["weights"])


def same_served_model(before: str, now: str) -> bool:
    """Whether two served model names (as run.json records them) name the same model: the identities compared
    field by field (weights only when both servers said them), the names themselves for untagged servers."""
    old, new = parse_served_name(before), parse_served_name(now)
    if old is None or new is None:
        return before == now
    weights_known = old.weights_sha256 is not None and new.weights_sha256 is not None
    return (old.method, old.dtype, old.config_sha256) == (new.method, new.dtype, new.config_sha256) and \
        (not weights_known or old.weights_sha256 == new.weights_sha256)


def config_sha256(model_path: str | Path) -> str:
    path = Path(model_path) / "config.json"
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise UserError(f"cannot read the model config ({exc.strerror or exc})", path=path) from None


def check_base_url(url: str) -> None:
    """An http(s) URL with a host, e.g. http://127.0.0.1:8000/v1 (anything else fails only when first requested,
    after retries, or as a traceback from the URL parser)."""
    import urllib.parse

    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
    except ValueError as exc:
        raise UserError(f"--base-url is not a valid URL ({exc}): {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"--base-url must be an http:// or https:// URL with a host, e.g. http://127.0.0.1:8000/v1; "
                        f"got {url!r}")


class ServerError(Exception):
    """A request that may succeed when tried again (the server is busy, restarting or unreachable)."""


class Client:
    """JSON over HTTP to one server, with bounded exponential backoff on transient failures."""

    def __init__(self, base_url: str, api_key: str | None, retries: int, timeout: float = REQUEST_TIMEOUT_S):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.retries = retries
        self.timeout = timeout

    def request(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET (body None) or POST `path`; UserError once the retries are spent or on a non-transient error."""
        url = self.base_url + path
        for attempt in range(self.retries + 1):
            try:
                return self._once(url, body)
            except ServerError as exc:
                if attempt == self.retries:
                    raise UserError(f"the server at {self.base_url} kept failing ({exc}; {self.retries + 1} tries): "
                                    "finished predictions are kept, run the same command again to resume") from None
                time.sleep(min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** attempt))
        raise AssertionError("unreachable")

    def _once(self, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = _error_detail(exc)
            if exc.code in RETRY_STATUSES:
                raise ServerError(f"HTTP {exc.code} {detail}".strip()) from None
            raise UserError(f"the server refused {url} (HTTP {exc.code}: {detail or exc.reason})") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, cut
            reason = getattr(exc, "reason", exc)
            raise ServerError(f"{type(reason).__name__}: {reason}") from None
        try:
            return json.loads(payload)
        except ValueError:
            raise ServerError(f"{url} answered with something other than JSON") from None


def _error_detail(exc: urllib.error.HTTPError) -> str:
    """The server's own message from an error body (OpenAI style {"error": {"message": ...}}), on one line."""
    try:
        body = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        return ""
    error = body.get("error", body) if isinstance(body, dict) else body
    message = error.get("message", "") if isinstance(error, dict) else str(error)
    return " ".join(str(message).split())[:300]


class ServedBackend:
    """Greedy completions from a served model; `method` and `max_length` are what the run needs of the server."""

    name = "openai"
    local_engine = False  # the model runs on the server
    accepted_options = frozenset({"base_url", "api_key_env", "concurrency", "retries"})

    def __init__(self, model_path: str | Path, base_url: str | None = None, method: Any = None,
                 max_length: int | None = None, dtype: str = "auto", api_key_env: str | None = None,
                 concurrency: int = 8, retries: int = 6) -> None:
        if not base_url:
            raise UserError("--backend openai needs --base-url (the server's address, e.g. http://127.0.0.1:8000/v1)")
        check_base_url(base_url)
        if concurrency < 1:
            raise UserError(f"--concurrency must be at least 1, got {concurrency}")
        if retries < 0:
            raise UserError(f"--retries must be 0 or more, got {retries}")
        api_key = None
        if api_key_env:
            api_key = os.environ.get(api_key_env)
            if not api_key:
                raise UserError(f"--api-key-env names {api_key_env}, which is not set or empty")
        self.base_url = base_url.rstrip("/")
        self.concurrency = concurrency
        self._client = Client(self.base_url, api_key, retries)
        requested_dtype = canonical_dtype(dtype)

        card = self._served_model()
        self.model_id = str(card["id"])
        self.is_vllm = card.get("owned_by") == "vllm"
        self.max_model_len = card.get("max_model_len")
        identity = parse_served_name(self.model_id)
        self.dtype = identity.dtype if identity else "unknown"
        if identity is None:
            _warn(f"the server at {self.base_url} was not started by `longeval serve`: its method, checkpoint and "
                  "dtype cannot be checked against this run")
        else:
            self._check_identity(identity, model_path, method, requested_dtype)
        if max_length is not None and isinstance(self.max_model_len, int) and self.max_model_len < max_length:
            raise UserError(f"the server at {self.base_url} serves {self.max_model_len} positions, this run needs "
                            f"{max_length}: restart it with --max-model-len {max_length} or lower --max-length")
        if not self.is_vllm:
            _warn(f"the server at {self.base_url} is not vLLM: prompts are sent as text, which it re-tokenizes, "
                  "so its tokens (and predictions) may differ from an offline run; samsum's at-least-one-token "
                  "rule is not applied")

        from longeval.prompts import load_tokenizer

        self._tokenizer = load_tokenizer(str(model_path))
        self._server_version = self._version() if self.is_vllm else None

    def _served_model(self) -> dict[str, Any]:
        listing = self._client.request("/models").get("data") or []
        cards = [card for card in listing if isinstance(card, dict) and "id" in card]
        if not cards:
            raise UserError(f"the server at {self.base_url} lists no model at /models")
        tagged = [card for card in cards if parse_served_name(str(card["id"])) is not None]
        if len(cards) == 1 or len(tagged) == 1:
            return (tagged or cards)[0]
        raise UserError(f"the server at {self.base_url} serves several models "
                        f"({', '.join(str(c['id']) for c in cards)}): serve one model per server")

    def _check_identity(self, identity: ServedIdentity, model_path: str | Path, method: Any,
                        requested_dtype: str) -> None:
        """Refuse a server whose model is not the one this run describes."""
        if method is not None and identity.method != method.spec:
            raise UserError(f"the server at {self.base_url} serves method {identity.method}, this run asks for "
                            f"{method.spec}: run with --method {identity.method} or serve the model with "
                            f"`longeval serve MODEL --method {method.spec}`")
        local = config_sha256(model_path)[:CONFIG_HASH_CHARS]
        if identity.config_sha256 != local:
            raise UserError(f"the server at {self.base_url} serves another checkpoint (config hash "
                            f"{identity.config_sha256}, --model has {local}): give --model the served checkpoint")
        if identity.weights_sha256:  # --model may hold only the config and tokenizer: then nothing to compare
            from longeval.runs.identity import weights_fingerprint

            weights = weights_fingerprint(Path(model_path))[:CONFIG_HASH_CHARS]
            if weights and weights != identity.weights_sha256:
                raise UserError(f"the server at {self.base_url} serves other weights (digest "
                                f"{identity.weights_sha256}, --model has {weights}): give --model the served "
                                "checkpoint")
        if requested_dtype != "auto" and requested_dtype != identity.dtype:
            raise UserError(f"the server at {self.base_url} runs {identity.dtype}, this run asks for "
                            f"{requested_dtype}: drop --dtype or serve with --dtype {requested_dtype}")

    def _version(self) -> str | None:
        root = self.base_url[:-3] if self.base_url.endswith("/v1") else self.base_url
        try:
            return str(Client(root, self._client.api_key, retries=0, timeout=30).request("/version").get("version"))
        except UserError:
            return None

    def generate(self, prompts: Sequence[Sequence[int]], params: GenerationParams) -> list[Generation]:
        """One request per prompt, `concurrency` in flight; outputs in input order."""
        if not prompts:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(prompts))) as pool:
            futures = [pool.submit(self._complete, list(prompt), params) for prompt in prompts]
            try:
                return [future.result() for future in futures]
            finally:
                for future in futures:
                    future.cancel()

    def _complete(self, prompt: list[int], params: GenerationParams) -> Generation:
        if self.max_model_len is not None and len(prompt) + params.max_new_tokens > int(self.max_model_len):
            raise UserError(f"a prompt of {len(prompt)} tokens with {params.max_new_tokens} new tokens needs more "
                            f"than the {self.max_model_len} positions the server serves: lower the max length")
        body: dict[str, Any] = {"model": self.model_id, "max_tokens": params.max_new_tokens, "temperature": 0.0,
                                "top_p": 1.0, "n": 1, "presence_penalty": 0.0, "frequency_penalty": 0.0}
        stop_ids = sorted(set(params.stop_token_ids) | set(params.eos_token_ids or ()))
        if self.is_vllm:
            # The offline SamplingParams, field by field (see backends/vllm.py); the server's generation-config
            # defaults are overridden explicitly, so the served and offline requests decode the same way.
            body.update(prompt=prompt, return_token_ids=True, min_tokens=params.min_new_tokens,
                        stop_token_ids=stop_ids, ignore_eos=params.eos_token_ids is not None,
                        repetition_penalty=1.0, top_k=0, min_p=0.0)
        else:
            body["prompt"] = self._tokenizer.decode(prompt, skip_special_tokens=True)
            stops = [self._tokenizer.decode([i]) for i in stop_ids if i != self._tokenizer.eos_token_id]
            if stops:
                body["stop"] = stops
        answer = self._client.request("/completions", body)
        try:
            choice = answer["choices"][0]
        except (KeyError, IndexError, TypeError):
            raise UserError(f"the server at {self.base_url} answered without a completion: "
                            f"{json.dumps(answer)[:200]}") from None
        if self.is_vllm:
            token_ids = choice.get("token_ids")
            if not isinstance(token_ids, list):
                raise UserError(f"the vLLM server at {self.base_url} returned no token ids (return_token_ids needs "
                                "vLLM 0.10.2 or later)")
            text = self._tokenizer.decode(token_ids, skip_special_tokens=True)
        else:
            text = str(choice.get("text", ""))
            token_ids = self._tokenizer.encode(text, add_special_tokens=False)
        return Generation(token_ids=list(token_ids), text=text)

    def versions(self) -> dict[str, str]:
        """The served model's name (method, dtype, config hash) and the server's vLLM version."""
        found = {"served_model": self.model_id}
        if self._server_version:
            found["vllm_server"] = self._server_version
        return found

    def close(self) -> None:
        """Nothing to free: the server keeps running for the next run."""


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)
