"""intake: takes the assignments relocation firms publish, validates and stores them, and
announces `assignment.created` or answers the firm with `assignment.rejected`."""
