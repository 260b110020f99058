"""Generated demo and sample data, kept out of the product packages: the matching catalog
(coaches, job leads) a demo or test deployment loads with `TRAILBLAZER_SAMPLE_CATALOG=true`, and
the partners the evaluation and benchmarks generate."""
