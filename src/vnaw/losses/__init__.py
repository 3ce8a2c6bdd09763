"""Losses: the NAW weight and the NLA total loss (:mod:`~vnaw.losses.naw`, paper §3.5) and the
V-NAW loss on clips or frames (:mod:`~vnaw.losses.video`, paper §3.7)."""
