"""The model catalog: ``configs/models.yaml`` read, filtered by profile and resolved into deployments.

The file is a LiteLLM model list plus ``router_settings``. Hearth adds to each entry an optional ``profiles``
list (the entry is used only when one of them is active) and understands two extra ``model_info`` keys:
``context_window`` (tokens, or ``engine`` for the embedded engine's n_ctx) and ``tokenizer``
(see inference/tokens.py). ``api_base: embedded`` is replaced by the URL of the supervised engine that serves
the deployment's upstream model name (a deployment no running engine serves is left out), and
``os.environ/NAME`` values are resolved here, once, so a missing variable fails at start-up with its name.
A ``model_group_alias`` target may be a list of groups in order of preference: the alias resolves to the first
that has a deployment (``default`` is the 1.5B, or the 0.5B where the 1.5B engine does not run); an alias
whose targets are all embedded models no engine serves here is left out, any other unknown target is an error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from inference.errors import InferenceError, ModelNotFound

EMBEDDED = "embedded"
DEFAULT_PROFILE = "embedded"
# providers whose servers speak the OpenAI chat protocol: Hearth forwards their bytes untouched
OPENAI_COMPATIBLE_PROVIDERS = frozenset(
    {"openai", "hosted_vllm", "vllm", "llamafile", "lm_studio", "ollama_chat"}
)


class CatalogError(InferenceError):
    """configs/models.yaml is invalid."""

    code = "invalid_model_config"


@dataclass(frozen=True)
class Deployment:
    """One upstream that can serve a public model name."""

    id: str
    model_name: str  # public model group
    provider: str  # litellm provider prefix: openai, hosted_vllm, ollama_chat, ...
    upstream_model: str  # the model name the upstream server expects
    api_base: str
    api_key: str | None
    context_window: int
    tokenizer: str
    embedded: bool
    litellm_params: dict[str, Any] = field(default_factory=dict, compare=False)
    model_info: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def passthrough(self) -> bool:
        return self.provider in OPENAI_COMPATIBLE_PROVIDERS

    @property
    def grammar_style(self) -> str:
        """How the upstream takes structured-output requests: ``openai`` or ``llama_cpp``."""
        default = "llama_cpp" if self.embedded else "openai"
        return str(self.model_info.get("response_format_style", default))

    @property
    def stream_usage(self) -> bool:
        """Whether the upstream honours ``stream_options.include_usage`` (llama_cpp.server does not)."""
        return bool(self.model_info.get("stream_usage", not self.embedded))


@dataclass(frozen=True)
class ModelCatalog:
    deployments: tuple[Deployment, ...]
    aliases: Mapping[str, str]
    router_settings: Mapping[str, Any]

    @property
    def groups(self) -> list[str]:
        seen: dict[str, None] = {}
        for deployment in self.deployments:
            seen.setdefault(deployment.model_name, None)
        return list(seen)

    def resolve(self, name: str) -> str:
        """Public name or alias → model group; ModelNotFound otherwise."""
        group = self.aliases.get(name, name)
        if group not in self.groups:
            raise ModelNotFound(name)
        return group

    def deployments_of(self, group: str) -> list[Deployment]:
        return [d for d in self.deployments if d.model_name == group]

    def context_window(self, group: str) -> int:
        """The smallest context of the group's deployments: a prompt that fits it fits any of them."""
        return min(d.context_window for d in self.deployments_of(group))

    def by_id(self, deployment_id: str) -> Deployment:
        for deployment in self.deployments:
            if deployment.id == deployment_id:
                return deployment
        raise KeyError(deployment_id)

    def litellm_model_list(self) -> list[dict[str, Any]]:
        return [
            {
                "model_name": d.model_name,
                "litellm_params": dict(d.litellm_params),
                "model_info": {**d.model_info, "id": d.id},
            }
            for d in self.deployments
        ]


def _resolve_env(value: Any, env: Mapping[str, str], where: str) -> Any:
    if isinstance(value, str) and value.startswith("os.environ/"):
        name = value.removeprefix("os.environ/")
        if name not in env:
            raise CatalogError(f"{where} reads the environment variable {name}, which is not set")
        return env[name]
    return value


def load_catalog(
    path: Path,
    *,
    profiles: list[str],
    engine_urls: Mapping[str, str],
    engine_context: int,
    env: Mapping[str, str] | None = None,
) -> ModelCatalog:
    """Read ``path`` and keep the deployments of the active ``profiles`` (none = the embedded profile).

    ``engine_urls`` maps each served name of the embedded engines to its base URL (empty: no engine)."""
    env = os.environ if env is None else env
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"cannot read the model list {path}: {exc}") from exc
    active = set(profiles) or {DEFAULT_PROFILE}
    deployments: list[Deployment] = []
    unserved: set[str] = set()  # groups whose embedded deployments no engine serves here
    for index, entry in enumerate(raw.get("model_list") or []):
        where = f"{path.name} model_list[{index}]"
        if not isinstance(entry, dict) or "model_name" not in entry or "litellm_params" not in entry:
            raise CatalogError(f"{where} needs model_name and litellm_params")
        wanted = entry.get("profiles")
        if wanted is not None and not active.intersection(wanted):
            continue
        params = {k: _resolve_env(v, env, where) for k, v in dict(entry["litellm_params"]).items()}
        info = dict(entry.get("model_info") or {})
        model = str(params.get("model", ""))
        provider, _, upstream_model = model.partition("/")
        if not upstream_model:
            raise CatalogError(
                f"{where}: litellm_params.model must look like '<provider>/<model>', got {model!r}"
            )
        embedded = params.get("api_base") == EMBEDDED
        if embedded:
            if upstream_model not in engine_urls:
                unserved.add(str(entry["model_name"]))
                continue  # no engine serves it here: disabled in this profile, or a large model left out
            params["api_base"] = engine_urls[upstream_model]
        if not params.get("api_base"):
            raise CatalogError(f"{where} has no api_base")
        window = info.get("context_window", engine_context if embedded else 4096)
        if window == EMBEDDED or window == "engine":
            window = engine_context
        try:
            context_window = int(window)
        except (TypeError, ValueError) as exc:
            raise CatalogError(f"{where}: model_info.context_window must be a number") from exc
        deployment_id = str(info.pop("id", f"{entry['model_name']}#{index}"))
        deployments.append(
            Deployment(
                id=deployment_id,
                model_name=str(entry["model_name"]),
                provider=provider,
                upstream_model=upstream_model,
                api_base=str(params["api_base"]).rstrip("/"),
                api_key=params.get("api_key"),
                context_window=context_window,
                tokenizer=str(info.get("tokenizer", "engine" if embedded else "approx")),
                embedded=embedded,
                litellm_params=params,
                model_info=info,
            )
        )
    if not deployments:
        raise CatalogError(f"{path} has no deployment for the profiles {sorted(active)}")
    router_settings = dict(raw.get("router_settings") or {})
    groups = {d.model_name for d in deployments}
    aliases = {}
    for alias, targets in dict(router_settings.pop("model_group_alias", None) or {}).items():
        target = _alias_target(str(alias), targets, groups, unserved)
        if target is not None:
            aliases[str(alias)] = target
    for rule in router_settings.get("fallbacks") or []:
        for source, targets in dict(rule).items():
            unknown = [t for t in [source, *targets] if t not in groups]
            if unknown:
                raise CatalogError(f"router_settings.fallbacks names unknown model groups {unknown}")
    return ModelCatalog(deployments=tuple(deployments), aliases=aliases, router_settings=router_settings)


def _alias_target(alias: str, targets: Any, groups: set[str], unserved: set[str]) -> str | None:
    """The first of an alias's targets (one group, or a list in order of preference) that has a deployment;
    None (the alias is left out) when they are all groups of embedded models no engine serves here."""
    wanted = [str(t) for t in targets] if isinstance(targets, list) else [str(targets)]
    for target in wanted:
        if target in groups:
            return target
    if unserved.issuperset(wanted):
        return None
    shown = wanted[0] if len(wanted) == 1 else wanted
    raise CatalogError(f"model_group_alias {alias!r} points at {shown!r}, which has no deployment")
