"""Ranking: the rules of domain.py computed with numpy over whole catalogs (coaches, job leads),
and the reasons given when nothing fits."""
