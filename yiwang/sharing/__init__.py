"""一网共享 exchange: purpose-bound sharing requests, grants, the data gateway and its access log."""
