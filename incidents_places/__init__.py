"""Spellings nobody listed: place aliases learnt from corroborating reports.

- :mod:`incidents_places.evidence`: which unresolved location texts name which place,
  from pairs of reports of different sources on the same day, district and category;
- :mod:`incidents_places.overlay`: the reviewed decisions (``incidents places accept`` and
  ``reject``), appended to the local alias overlay, and the patch for places.json.

Evidence never changes a key: keys stay a pure function of one report and the gazetteer
(shipped file + accepted overlay). docs/analysts.md has the reviewer's workflow.
"""
