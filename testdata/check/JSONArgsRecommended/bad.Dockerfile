FROM scratch
ENTRYPOINT my-server --port 80
