//! Conversions between Rust values and Python objects: JSON trees to dicts and lists, Python
//! scalars and dicts to TOML values (config overrides), matrices to float64 numpy arrays.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyDict, PyFloat, PyInt, PyList, PyString};
use pyo3::IntoPyObjectExt;
use serde_json::Value;

/// A JSON tree as Python objects: null → None, objects → dict, arrays → list.
pub fn json_to_py(py: Python<'_>, v: &Value) -> PyResult<Py<PyAny>> {
    Ok(match v {
        Value::Null => py.None(),
        Value::Bool(b) => b.into_py_any(py)?,
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_py_any(py)?
            } else if let Some(u) = n.as_u64() {
                u.into_py_any(py)?
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_py_any(py)?
            }
        }
        Value::String(s) => s.into_py_any(py)?,
        Value::Array(a) => {
            let items = a
                .iter()
                .map(|x| json_to_py(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any().unbind()
        }
        Value::Object(m) => {
            let d = PyDict::new(py);
            for (k, x) in m {
                d.set_item(k, json_to_py(py, x)?)?;
            }
            d.into_any().unbind()
        }
    })
}

/// Any serializable value (a metrics record, a certificate) as Python objects, through its JSON
/// text so that dict keys keep the order of the run-folder files (NaN is written as null → None).
pub fn to_py(py: Python<'_>, v: &impl serde::Serialize) -> PyResult<Py<PyAny>> {
    let text = serde_json::to_string(v).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
}

/// A Python value for config key `key` as TOML: bool, int, float, str, or a dict/list of them.
pub fn py_to_toml(key: &str, v: &Bound<'_, PyAny>) -> PyResult<toml::Value> {
    let bad = |what: String| PyValueError::new_err(format!("config key `{key}`: {what}"));
    if v.is_instance_of::<PyBool>() {
        Ok(toml::Value::Boolean(v.extract()?))
    } else if v.is_instance_of::<PyInt>() {
        let i: i64 = v
            .extract()
            .map_err(|_| bad(format!("integer {v} does not fit in 64 bits")))?;
        Ok(toml::Value::Integer(i))
    } else if v.is_instance_of::<PyFloat>() {
        Ok(toml::Value::Float(v.extract()?))
    } else if v.is_instance_of::<PyString>() {
        Ok(toml::Value::String(v.extract()?))
    } else if let Ok(d) = v.cast::<PyDict>() {
        let mut table = toml::Table::new();
        for (k, x) in d.iter() {
            let k: String = k
                .extract()
                .map_err(|_| bad(format!("dict key {k} is not a string")))?;
            let sub = if key.is_empty() {
                k.clone()
            } else {
                format!("{key}.{k}")
            };
            table.insert(k, py_to_toml(&sub, &x)?);
        }
        Ok(toml::Value::Table(table))
    } else if let Ok(l) = v.cast::<PyList>() {
        let items = l
            .iter()
            .map(|x| py_to_toml(key, &x))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(toml::Value::Array(items))
    } else {
        Err(bad(format!(
            "expected a bool, int, float or str, got {}",
            v.get_type().name()?
        )))
    }
}

/// A rows × cols float64 numpy array (C order, writable) from `at(i, j)`.
pub fn numpy_matrix<'py>(
    py: Python<'py>,
    rows: usize,
    cols: usize,
    at: impl Fn(usize, usize) -> f64,
) -> PyResult<Bound<'py, PyAny>> {
    let mut bytes = Vec::with_capacity(rows * cols * 8);
    for i in 0..rows {
        for j in 0..cols {
            bytes.extend_from_slice(&at(i, j).to_le_bytes());
        }
    }
    let np = py.import("numpy")?;
    let buf = PyByteArray::new(py, &bytes);
    np.call_method1("frombuffer", (buf, "<f8"))?
        .call_method1("reshape", ((rows, cols),))
}
