//! oocr-llm: the LLM knowledge-injection experiment (paper Sec. 2).
