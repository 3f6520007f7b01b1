"""Tables and figures for humans: dataset overviews, metric tables, comparison figures."""
