"""What every API view shares: errors, pagination, throttles, the project access gate, and the URL map."""
