import random, urllib.parse
random.seed(12)
hand = """a between 0 and 3
(TAGS is not null and TAGS in ('TagA', 'TagB'))and (a is not null and a between 0 and 3)
a=3 and b<>4 And c>5 AND d<=4
a=3 or b<>4 Or c>5 OR d<=4
a in ('3', '4', '5')
a not in ('3', '4', '5')
a not between 2 and 10
a is null
a is not null
a is not null and a='hello'
a=TRUE OR b=FALSE
a is null OR a='hello'
TAGS='''''tag'''''
a > 3.1E10
a > b
a = b
a <> b
a = 3
a = 3.0
a = 3L
a > 2147483648
a > 1L
a >= 3.5
a < -1
- a < 0
-a = -3
a = 'abc'
a = TRUE
TRUE = a
a = FALSE
1 = TRUE
TRUE = 1
TRUE = TRUE
TRUE
FALSE
NULL
NOT NULL
NOT a
a
NOT NOT a
a AND b
a OR TRUE
a = NULL
NULL = a
a IS NULL IS NULL
a > 'x'
a > TRUE
a > NULL
(a > 1) > 2
(a = 1) = (b = 1)
(a = 1) = TRUE
(a = 1) = 'true'
a BETWEEN 'a' AND 'b'
a BETWEEN NULL AND 1
a BETWEEN 3 AND 1
a BETWEEN -3 AND 1
a BETWEEN 1 AND 1
a BETWEEN 1.5 AND 2
a BETWEEN b AND c
a NOT BETWEEN b AND c
3
'x'
-a
NOT 3
'x' IN ('x')
a IN ()
a IN (1, 2)
a IN ('x')
a IN ('x',
a IS 1
a = 'x
a = 1 b
a = 1 )
a = 1 AND
(a = 1
a = 01
a = 0L
a = 0
a = 0.0
a = 0.5
a = .5
a = 5.
a = 5e2
a = 5E+2
a = 5e-2
a = 1e400
a = 1e-400
a != 1
a == 1
a = 1 -- c
a = 1 -- c\nOR b = 2
/* c */ a = 1
a LIKE 'x%'
a.b = 1
$a = 1
_a = 1
A = 1
and = 1
a = 'it''s'
a = ''
a = 9223372036854775807
a = 9223372036854775808
a > -9223372036854775808
b > a
a > 3 AND b = 'x'
a > 3 OR b = 'x'
b = 'x' OR a > 3
b = 'x' AND a > 3
NOT (a > 3)
NOT a > 3
a IN ('1') OR a IN ('3')
a NOT IN ('1') AND a IS NOT NULL
+a > 1
+ 3 < a
- - 3 < a
a > - - 3""".split("\n")
hand = [h.replace("\\n", "\n") for h in hand]
atoms = ["a","b","c","TAGS","1","3","0","-1","2.5","1e3","'x'","'3'","'TagA'","TRUE","FALSE","NULL","2147483648"]
def cmp():
    r = random.random()
    x = random.choice(atoms); y = random.choice(atoms)
    if r < 0.5: return "%s %s %s" % (x, random.choice(["=","<>",">",">=","<","<="]), y)
    if r < 0.65: return "%s %sBETWEEN %s AND %s" % (x, random.choice(["","NOT "]), random.choice(atoms), random.choice(atoms))
    if r < 0.8: return "%s %sIN (%s)" % (x, random.choice(["","NOT "]), ", ".join(random.sample(["'x'","'1'","'3'","'TagA'","'TagB'"], random.randint(1,3))))
    if r < 0.9: return "%s IS %sNULL" % (x, random.choice(["","NOT "]))
    return random.choice(atoms)
def expr(d=0):
    r = random.random()
    if d > 2 or r < 0.4: return cmp()
    if r < 0.6: return "(%s) AND (%s)" % (expr(d+1), expr(d+1))
    if r < 0.8: return "%s OR %s" % (expr(d+1), expr(d+1))
    if r < 0.9: return "NOT (%s)" % expr(d+1)
    return "%s AND %s" % (expr(d+1), expr(d+1))
rand = [expr() for _ in range(260)]
ctxs = [{}, {"a":"1"}, {"a":"3","b":"x"}, {"a":"abc","b":"abc"}, {"a":"3.5","b":"3.5","c":"4"},
        {"a":"true","TAGS":"TagA"}, {"a":"-2","b":"10","c":"","TAGS":"TagB"}, {"a":"3000000000","b":"1e3"},
        {"a":" 3 ","b":"NaN","c":"-0"}, {"a":"x","b":"Infinity","TAGS":"TagC"}]
q = lambda s: urllib.parse.quote(s, safe="")
with open("cases.tsv","w") as f:
    for e in hand + rand:
        for c in ctxs:
            f.write(q(e) + "\t" + "&".join(q(k)+"="+q(v) for k,v in c.items()) + "\n")
