"""The catalog as matching holds it: coaches and job leads cached from PostgreSQL, and the
offline reference data (ESCO skills and occupations, cities, languages) the rules read."""
