

def test_kept_bytes_grow_with_the_chains_only_where_the_fusion_compares_every_hypothesis(problem):
    gallery, y, _, _ = problem  # three degradation chains per scale
    with pytest.raises(AttributeError):
        FusedNearestNeighborIdentifier().gallery_nbytes_
    for fusion, grows in (("T_concat", False), ("T_add", False), ("S_max/S_add", True)):
        one_chain = FusedNearestNeighborIdentifier(fusion, n_degraded=1).fit(gallery, y).gallery_nbytes_
        three_chains = FusedNearestNeighborIdentifier(fusion).fit(gallery, y).gallery_nbytes_
        assert (three_chains > one_chain) == grows and one_chain > 0
