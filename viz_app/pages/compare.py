import streamlit as st

st.write("coming soon")
