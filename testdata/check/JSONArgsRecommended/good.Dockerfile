FROM scratch AS base
SHELL ["/bin/bash", "-c"]

FROM base
CMD echo inherited shell
FROM scratch
ENTRYPOINT ["my-server", "--port", "80"]
