namespace QstOrleans.Data;
