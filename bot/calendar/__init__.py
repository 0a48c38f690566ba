"""The work calendar: official holidays and 调休 make-up workdays, and working-time deadlines."""
