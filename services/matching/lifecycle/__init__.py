"""The life cycle of a proposal: accepted or closed by the firm, kept fresh as the catalog
changes, and cleared of job leads that expired."""
