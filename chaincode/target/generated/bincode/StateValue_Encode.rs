impl :: bincode :: Encode for StateValue
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        match self
        {
            Self ::Params(field_0)
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (0u32), encoder) ?
                ; :: bincode :: Encode :: encode(field_0, encoder) ?; core ::
                result :: Result :: Ok(())
            }, Self ::Org(field_0)
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (1u32), encoder) ?
                ; :: bincode :: Encode :: encode(field_0, encoder) ?; core ::
                result :: Result :: Ok(())
            }, Self ::Key(field_0)
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (2u32), encoder) ?
                ; :: bincode :: Encode :: encode(field_0, encoder) ?; core ::
                result :: Result :: Ok(())
            }, Self ::Consortium(field_0)
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (3u32), encoder) ?
                ; :: bincode :: Encode :: encode(field_0, encoder) ?; core ::
                result :: Result :: Ok(())
            }, Self ::Proposal(field_0)
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (4u32), encoder) ?
                ; :: bincode :: Encode :: encode(field_0, encoder) ?; core ::
                result :: Result :: Ok(())
            }, Self ::Pool(field_0)
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (5u32), encoder) ?
                ; :: bincode :: Encode :: encode(field_0, encoder) ?; core ::
                result :: Result :: Ok(())
            }, Self ::Token(field_0)
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (6u32), encoder) ?
                ; :: bincode :: Encode :: encode(field_0, encoder) ?; core ::
                result :: Result :: Ok(())
            }, Self ::Code(field_0)
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (7u32), encoder) ?
                ; :: bincode :: Encode :: encode(field_0, encoder) ?; core ::
                result :: Result :: Ok(())
            }, Self ::Claim(field_0)
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (8u32), encoder) ?
                ; :: bincode :: Encode :: encode(field_0, encoder) ?; core ::
                result :: Result :: Ok(())
            }, Self ::Count(field_0)
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (9u32), encoder) ?
                ; :: bincode :: Encode :: encode(field_0, encoder) ?; core ::
                result :: Result :: Ok(())
            }, Self ::Redemption(field_0)
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (10u32), encoder) ?
                ; :: bincode :: Encode :: encode(field_0, encoder) ?; core ::
                result :: Result :: Ok(())
            }, Self ::SeenTx(field_0)
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (11u32), encoder) ?
                ; :: bincode :: Encode :: encode(field_0, encoder) ?; core ::
                result :: Result :: Ok(())
            }, Self ::Remembered(field_0)
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (12u32), encoder) ?
                ; :: bincode :: Encode :: encode(field_0, encoder) ?; core ::
                result :: Result :: Ok(())
            }, Self ::PruneCursor(field_0, field_1)
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (13u32), encoder) ?
                ; :: bincode :: Encode :: encode(field_0, encoder) ?; ::
                bincode :: Encode :: encode(field_1, encoder) ?; core ::
                result :: Result :: Ok(())
            },
        }
    }
}