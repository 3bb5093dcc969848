"""Analysis: learning curves, model comparison, the daily report, costs and ROI.

Every tool reads measurements mentor already stores (run folders, ``state.db``) through
:mod:`mentor.analysis.sources`; none parses log text.
"""
