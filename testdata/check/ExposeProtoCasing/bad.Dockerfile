FROM scratch
EXPOSE 80/TcP 53/udp
