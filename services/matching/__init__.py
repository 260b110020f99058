"""matching: pairs the partner with a career coach and job leads in the host location, never
breaking a hard constraint, and explains every score."""
