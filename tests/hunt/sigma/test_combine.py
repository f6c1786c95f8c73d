"""Sigma runs over parts of one input, combined: file ids mapped, blind fields intersected."""

from __future__ import annotations

from aptcatch.hunt.sigma.evaluate import Hit, SigmaRun, combine


def test_combine_maps_files_and_keeps_a_field_blind_only_where_every_part_lacks_it() -> None:
    blind = {1: frozenset({"X", "Y"}), 5: frozenset({"Z"})}
    a = SigmaRun([Hit(0, 3, 1), Hit(1, 0, 2)], {1, 2, 5}, blind, 4, 2)
    b = SigmaRun([Hit(0, 7, 1)], {1, 2}, {1: frozenset({"Y"}), 2: frozenset({"Q"})}, 3, 1)
    run = combine([(a, [4, 9]), (b, [6])])
    assert run.hits == [Hit(4, 3, 1), Hit(9, 0, 2), Hit(6, 7, 1)]
    assert run.applied == {1, 2, 5}
    # rule 1 lacks Y everywhere; rule 2 had Q in part a; rule 5 applied to part a only
    assert run.blind == {1: frozenset({"Y"}), 5: frozenset({"Z"})}
    assert (run.segments, run.queries) == (7, 3)
    assert combine([]) == SigmaRun()
