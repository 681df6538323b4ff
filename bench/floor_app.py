"""The platform's floor: one text box and one Plotly heatmap of the sentence's size, no model.

The browser benchmark times Attention Lab against this page, in the same run, so that its
figures say how much the app adds to what Streamlit and Plotly cost anyway.
"""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

st.set_page_config(page_title="floor", layout="wide")
text = st.text_input("Sentence (press Enter to run)", "the cat sat on the mat", key="text")
head = st.select_slider("Head", options=range(12), key="head")
n = min(512, len(text.split()) + 2)
rng = np.random.default_rng(len(text) * 13 + head)
weights = rng.dirichlet(np.ones(n), size=n).astype(np.float32)  # [query_pos, key_pos]
labels = [f"{i} w" for i in range(n)]
st.plotly_chart(go.Figure(go.Heatmap(z=weights, x=labels, y=labels, zmin=0, zmax=1)), key="floor")
