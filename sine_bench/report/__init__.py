"""Run outputs: tables (pandas), plots (matplotlib) and a self-contained report.html."""
