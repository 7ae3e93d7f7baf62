"""snap2prod's demo app: a thin Streamlit page over a plain, typed vision core."""
