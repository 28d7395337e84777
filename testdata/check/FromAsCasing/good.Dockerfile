from scratch as base
from base as other
