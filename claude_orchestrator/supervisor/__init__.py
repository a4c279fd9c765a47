"""The supervisor / leader (arrives with the supervisor issue)."""
