"""observatory_sdk.sampling: parent-based ratio sampling, the rate from the first source set."""

from __future__ import annotations

import pytest
from observatory_sdk.sampling import choose_sampler, is_production
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import Decision, ParentBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags


def test_default_is_everything_outside_production_and_a_tenth_in_it() -> None:
    assert choose_sampler(None, None).rate == 1.0
    assert choose_sampler(None, "staging").rate == 1.0
    assert choose_sampler(None, "production").rate == 0.1
    assert choose_sampler(None, "prod-eu").rate == 0.1


def test_argument_then_observatory_variable_then_otel_sampler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    choice = choose_sampler(None, "prod")
    assert (choice.rate, choice.source) == (None, "OTEL_TRACES_SAMPLER")
    assert choice.build() is None  # the SDK's TracerProvider reads the variable itself
    monkeypatch.setenv("OBSERVATORY_SAMPLE_RATE", "0.25")
    assert choose_sampler(None, "prod").rate == 0.25
    assert choose_sampler(0.5, "prod").rate == 0.5


@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan", "half"])
def test_bad_rates_are_refused_with_their_source(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("OBSERVATORY_SAMPLE_RATE", value)
    with pytest.raises(ValueError, match="OBSERVATORY_SAMPLE_RATE"):
        choose_sampler(None, None)


def test_argument_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        choose_sampler(2.0, None)


def test_parent_decision_wins_over_the_ratio() -> None:
    sampler = choose_sampler(0.0, None).build()
    assert isinstance(sampler, ParentBased)
    trace_id = 0x0123456789ABCDEF0123456789ABCDEF
    assert sampler.should_sample(None, trace_id, "root").decision is Decision.DROP
    sampled_parent = SpanContext(trace_id, 0x42, is_remote=True, trace_flags=TraceFlags(1))
    parent = trace.set_span_in_context(NonRecordingSpan(sampled_parent))
    decision = sampler.should_sample(parent, trace_id, "child").decision
    assert decision is Decision.RECORD_AND_SAMPLE


def test_production_names() -> None:
    assert is_production("PROD")
    assert not is_production("preprod")
    assert not is_production(None)
