"""defaults < .codeagent.toml < CODEAGENT_* env < flags, and clear errors on bad values."""

from __future__ import annotations

import pytest

from codeagent.errors import UsageError
from codeagent.settings import DEFAULT_EMBED_MODEL, load_settings, normalize_ollama_host


def test_precedence_and_sources(tmp_path):
    (tmp_path / ".codeagent.toml").write_text(
        'embed_model = "file-model"\nembed_batch_size = 8\nsearch_k = 3\n'
        'ignore_patterns = ["docs/"]\n')
    env = {"CODEAGENT_EMBED_BATCH_SIZE": "16", "CODEAGENT_SEARCH_K": "4"}
    settings = load_settings(tmp_path, {"search_k": 5, "embed_device": None}, environ=env)
    assert settings.embed_model == "file-model" and settings.sources["embed_model"] == "file"
    assert settings.embed_batch_size == 16 and settings.sources["embed_batch_size"] == "env"
    assert settings.search_k == 5 and settings.sources["search_k"] == "flag"
    assert settings.embed_device == "auto" and not settings.explicit("embed_device")
    assert settings.ignore_patterns == ["docs/"]


def test_defaults_without_any_configuration(tmp_path):
    settings = load_settings(tmp_path, environ={})
    assert settings.embed_model == DEFAULT_EMBED_MODEL
    assert settings.llm_model == "codellama:34b"
    assert not settings.explicit("embed_model")


def test_list_settings_from_the_environment(tmp_path):
    settings = load_settings(tmp_path, environ={"CODEAGENT_SECRET_PATTERNS": "*.vault, *.sec"})
    assert settings.secret_patterns == ["*.vault", "*.sec"]


def test_ollama_host_is_honoured_and_normalised(tmp_path):
    settings = load_settings(tmp_path, environ={"OLLAMA_HOST": "0.0.0.0:11500"})
    assert settings.ollama_host == "http://127.0.0.1:11500"
    assert normalize_ollama_host("gpu-box") == "http://gpu-box:11434"
    assert normalize_ollama_host("https://ollama.example.com:443/") == "https://ollama.example.com:443"


def test_unknown_key_in_the_file_suggests_the_right_one(tmp_path):
    (tmp_path / ".codeagent.toml").write_text('embed_modle = "x"\n')
    with pytest.raises(UsageError) as err:
        load_settings(tmp_path, environ={})
    assert "embed_model" in err.value.hint


def test_invalid_values_are_usage_errors(tmp_path):
    with pytest.raises(UsageError):
        load_settings(tmp_path, environ={"CODEAGENT_EMBED_BATCH_SIZE": "many"})
    (tmp_path / ".codeagent.toml").write_text("not toml at all [")
    with pytest.raises(UsageError):
        load_settings(tmp_path, environ={})


def test_an_optional_whole_number_is_read_as_one(tmp_path):
    from codeagent.errors import UsageError

    assert load_settings(tmp_path, environ={}).llm_seed is None
    assert load_settings(tmp_path, environ={"CODEAGENT_LLM_SEED": "7"}).llm_seed == 7
    with pytest.raises(UsageError):
        load_settings(tmp_path, environ={"CODEAGENT_LLM_SEED": "seven"})


def test_the_protocol_is_one_of_three_words(tmp_path):
    from codeagent.errors import UsageError

    assert load_settings(tmp_path, {"agent_protocol": "native"}, environ={}).agent_protocol \
        == "native"
    with pytest.raises(UsageError, match="auto, react, native"):
        load_settings(tmp_path, {"agent_protocol": "json"}, environ={})


@pytest.mark.parametrize("name", ["max_file_bytes", "window_lines",
                                  "search_k", "context_window", "max_steps"])
def test_a_number_that_cannot_be_zero_is_refused_naming_it_and_where_it_was_set(tmp_path,
                                                                                name):
    (tmp_path / ".codeagent.toml").write_text(f"{name} = 0\n")
    with pytest.raises(UsageError) as err:
        load_settings(tmp_path, environ={})
    assert name in err.value.message and str(tmp_path / ".codeagent.toml") in err.value.message
    with pytest.raises(UsageError) as err:
        load_settings(None, environ={f"CODEAGENT_{name.upper()}": "0"})
    assert f"$CODEAGENT_{name.upper()}" in err.value.message
    assert load_settings(None, environ={"CODEAGENT_CITATION_RETRIES": "0"}).citation_retries == 0


def test_an_overlap_as_long_as_the_window_is_refused(tmp_path):
    with pytest.raises(UsageError) as err:
        load_settings(tmp_path, {"window_lines": 10, "window_overlap": 10}, environ={})
    assert "window_overlap" in err.value.message and "window_lines" in err.value.message
