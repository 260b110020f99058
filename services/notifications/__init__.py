"""notifications: carries the duty of information to the employee, the partner and HR, each with
the content their role needs, and keeps the record that proves it."""
