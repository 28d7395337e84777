# A stage name is matched case-insensitively; mixed case misleads.
  FROM scratch AS Build
COPY a /a
