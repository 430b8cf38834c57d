"""The registry of demo steps other apps add (loyalty_site.demo.steps): order, and steps left out for a while."""

import pytest

from loyalty_site.demo import steps as demo_steps


def test_registered_steps_run_in_order_and_skipped_ones_are_left_out_only_inside_the_block():
    names = [step.name for step in demo_steps.steps()]
    assert {"rewards-catalog", "partner-awards"} <= set(names)
    assert names == [step.name for step in sorted(demo_steps.steps(), key=lambda step: (step.order, step.name))]

    with demo_steps.skipped("rewards-catalog"):
        assert [step.name for step in demo_steps.steps()] == [name for name in names if name != "rewards-catalog"]
        with demo_steps.skipped("partner-awards"):
            inner = [step.name for step in demo_steps.steps()]
            assert "rewards-catalog" not in inner and "partner-awards" not in inner
        assert "partner-awards" in [step.name for step in demo_steps.steps()]
    assert [step.name for step in demo_steps.steps()] == names


def test_run_all_runs_only_the_steps_not_skipped():
    ran = []
    context = demo_steps.DemoContext(
        seed=1, now=None, start=None, showcase_member_id=0, log=lambda _: None, progress=lambda _: None
    )
    registered = {step.name: step for step in demo_steps.steps()}
    for name in registered:
        demo_steps.register(name, lambda ctx, name=name: ran.append(name), order=registered[name].order)
    try:
        with demo_steps.skipped("rewards-catalog"):
            demo_steps.run_all(context)
    finally:
        for step in registered.values():
            demo_steps.register(step.name, step.function, order=step.order)
    assert ran == [name for name in registered if name != "rewards-catalog"]


def test_a_misspelt_step_is_refused_rather_than_skipping_nothing():
    with pytest.raises(ValueError, match="rewards-katalog"), demo_steps.skipped("rewards-katalog"):
        pass
    assert "rewards-catalog" in [step.name for step in demo_steps.steps()]
