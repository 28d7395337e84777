FROM scratch AS base
COPY app.js /
COPY . .
ADD https://example.com/secrets/key.pem /k

FROM scratch
COPY --from=base /Dockerfile /secrets/ /y/
