FROM scratch
ARG SECRET_PASSPHRASE
ENV password=bar secret=baz
